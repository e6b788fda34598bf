-- Unchanged TOAST: an update of another column sends the out-of-line value as
-- 'u'. With REPLICA IDENTITY FULL the old row carries the value.
CREATE TABLE golden_toast_default (id int PRIMARY KEY, counter int, body text);
CREATE TABLE golden_toast_full (id int PRIMARY KEY, counter int, body text);
ALTER TABLE golden_toast_full REPLICA IDENTITY FULL;
ALTER TABLE golden_toast_default ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE golden_toast_full ALTER COLUMN body SET STORAGE EXTERNAL;
--- capture starts here
INSERT INTO golden_toast_default VALUES (1, 0, repeat('0123456789', 300));
INSERT INTO golden_toast_full VALUES (1, 0, repeat('abcdefghij', 300));
UPDATE golden_toast_default SET counter = 1 WHERE id = 1;
UPDATE golden_toast_full SET counter = 1 WHERE id = 1;
