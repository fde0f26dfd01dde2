-- Sample application database: several schemas, the types a Supabase app uses, FKs,
-- RLS policies, functions, triggers and sequences. Used by the tests and scripts/demo.
CREATE SCHEMA app;
CREATE SCHEMA billing;
CREATE SCHEMA "Mixed Case";
CREATE TYPE app.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');

CREATE TABLE app.users (
    id uuid PRIMARY KEY,
    email text NOT NULL UNIQUE,
    profile jsonb NOT NULL DEFAULT '{}',
    tags text[] NOT NULL DEFAULT '{}',
    avatar bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
);

CREATE TABLE app.orders (
    id bigserial PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES app.users(id) ON DELETE CASCADE,
    status app.order_status NOT NULL DEFAULT 'pending',
    amounts numeric(12,2)[] NOT NULL,
    note text,
    placed_at timestamptz NOT NULL
);
CREATE INDEX orders_user_idx ON app.orders (user_id, placed_at DESC);

CREATE SEQUENCE billing.invoice_no START 1000;
CREATE TABLE billing.invoices (
    no integer PRIMARY KEY DEFAULT nextval('billing.invoice_no'),
    order_id bigint NOT NULL REFERENCES app.orders(id),
    total numeric(12,2) NOT NULL CHECK (total >= 0),
    lines jsonb NOT NULL
);

CREATE TABLE "Mixed Case"."Odd.Table" ("Key" int PRIMARY KEY, "Value" text);

CREATE FUNCTION app.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := '2026-01-01 00:00:00+00';
    RETURN NEW;
END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();

CREATE FUNCTION app.current_user_id() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_owner ON app.orders FOR SELECT USING (user_id = app.current_user_id());
CREATE POLICY orders_insert ON app.orders FOR INSERT WITH CHECK (user_id = app.current_user_id());
ALTER TABLE billing.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY invoices_read ON billing.invoices FOR SELECT USING (true);

CREATE VIEW app.order_totals AS
    SELECT o.user_id, count(*) AS orders, sum(i.total) AS total
    FROM app.orders o LEFT JOIN billing.invoices i ON i.order_id = o.id GROUP BY o.user_id;

COMMENT ON TABLE app.users IS 'application users';

-- Deterministic data; :rows is the number of users (psql variable, default set by caller).
INSERT INTO app.users (id, email, profile, tags, avatar, created_at)
SELECT md5('user' || g)::uuid, 'user' || g || '@example.com',
       jsonb_build_object('name', 'User ' || g, 'n', g, 'nested', jsonb_build_object('a', g % 7)),
       ARRAY['t' || (g % 3), 'x"y', E'quote''s'],
       CASE WHEN g % 4 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, :rows) g;
UPDATE app.users SET email = email WHERE (profile->>'n')::int % 10 = 0;

INSERT INTO app.orders (user_id, status, amounts, note, placed_at)
SELECT md5('user' || (1 + g % :rows))::uuid,
       (ARRAY['pending','paid','shipped','cancelled'])[1 + g % 4]::app.order_status,
       ARRAY[(g % 100)::numeric / 3, 1.5], CASE WHEN g % 5 = 0 THEN E'line\nbreak\ttab' END,
       timestamptz '2026-02-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, :rows * 3) g;

INSERT INTO billing.invoices (order_id, total, lines)
SELECT id, round(amounts[1] * 10, 2), jsonb_build_array(jsonb_build_object('order', id))
FROM app.orders WHERE id % 2 = 0;

INSERT INTO "Mixed Case"."Odd.Table" VALUES (1, 'one'), (2, NULL), (3, 'ünïcödé ✓');
SELECT setval('billing.invoice_no', 5000);
