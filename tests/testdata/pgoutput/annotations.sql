-- Transactional logical messages: annotations set mid-transaction apply to the
-- changes after them; other prefixes are ignored. Then a transaction with a
-- replication origin (Origin message).
CREATE TABLE golden_notes (id int PRIMARY KEY, body text);
SELECT pg_replication_origin_create('golden_origin');
--- capture starts here
BEGIN;
INSERT INTO golden_notes VALUES (1, 'before');
SELECT pg_logical_emit_message(true, 'sluice:transaction_annotations.set', '{"username": "paul", "request_id": 42}');
INSERT INTO golden_notes VALUES (2, 'after');
SELECT pg_logical_emit_message(true, 'other:prefix', 'not for sluice');
UPDATE golden_notes SET body = 'after again' WHERE id = 2;
COMMIT;
SELECT pg_replication_origin_session_setup('golden_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/AB', '2024-05-06 07:08:09+00');
INSERT INTO golden_notes VALUES (3, 'from origin');
COMMIT;
SELECT pg_replication_origin_session_reset();
