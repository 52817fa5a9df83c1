-- A user's recent deliveries (GET /api/v1/deliveries), newest first.
CREATE INDEX deliveries_owner ON deliveries (owner_id, created_at DESC, id DESC);
