-- REPLICA IDENTITY DEFAULT: insert, update without key change (no old tuple),
-- update of a composite primary key ('K' old key tuple), delete ('K'), NULLs.
CREATE TABLE golden_orders (id int PRIMARY KEY, status text, total numeric(10,2), note text);
CREATE TABLE golden_lines (order_id int, line_no int, sku text, qty int,
                           PRIMARY KEY (order_id, line_no));
--- capture starts here
INSERT INTO golden_orders VALUES (1, 'pending', 10.50, NULL);
BEGIN;
INSERT INTO golden_lines VALUES (1, 1, 'A-1', 2), (1, 2, 'B-2', 1);
UPDATE golden_orders SET status = 'paid' WHERE id = 1;
UPDATE golden_lines SET line_no = 3 WHERE order_id = 1 AND line_no = 2;
DELETE FROM golden_lines WHERE order_id = 1 AND line_no = 1;
COMMIT;
