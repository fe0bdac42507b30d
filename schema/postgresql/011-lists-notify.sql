-- 011-lists-notify (PostgreSQL): every change to the allow and block lists
-- that commits is notified on the channel gatehouse_lists, whoever makes
-- it (quarctl on any host, scand's learning, psql). scand keeps a copy of
-- the lists for its lookups and loads it again when notified
-- (common/store_pg_lists.c), instead of asking the server for each
-- recipient of each message. One notification per statement; PostgreSQL
-- sends it at commit and folds the same one sent twice in a transaction.
CREATE FUNCTION gatehouse_lists_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('gatehouse_lists', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER lists_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON lists
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_lists_changed();
