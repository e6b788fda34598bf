-- REPLICA IDENTITY FULL: update and delete carry the whole old row ('O').
CREATE TABLE golden_full (id int PRIMARY KEY, status text, flag boolean);
ALTER TABLE golden_full REPLICA IDENTITY FULL;
--- capture starts here
INSERT INTO golden_full VALUES (7, 'new', true);
UPDATE golden_full SET status = 'done', flag = NULL WHERE id = 7;
DELETE FROM golden_full WHERE id = 7;
