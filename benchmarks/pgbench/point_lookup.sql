\set id random(1, :maxid)
SELECT * FROM shop.customers WHERE customer_id = :id;
