-- A custom enum column (Type message), text forms of common types under
-- sluice's session options, and a column type change (second Relation message).
CREATE TYPE golden_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE golden_typed (id int PRIMARY KEY, mood golden_mood, amount int, tags text[],
                           data jsonb, at timestamptz, span interval, ratio float8, raw bytea);
--- capture starts here
INSERT INTO golden_typed VALUES (1, 'happy', 5, '{a,"b c"}', '{"k": [1, 2]}',
  '2024-01-02 03:04:05.678901+00', '1 day 02:03:04', 0.1, '\xdeadbeef');
ALTER TABLE golden_typed ALTER COLUMN amount TYPE bigint;
INSERT INTO golden_typed VALUES (2, 'sad', 9000000000, NULL, NULL, NULL, NULL, NULL, NULL);
