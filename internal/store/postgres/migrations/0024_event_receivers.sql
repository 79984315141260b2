-- A received event is a duplicate only of one the same application posted
-- with the same source and id: an event's source and id are what its
-- sender wrote, so under a key of (source, id) alone any application
-- allowed to post events could claim another sender's ids ahead of it and
-- have that sender's events dropped as duplicates. receiver is the id of
-- the application that posted the event; '' for Gatehouse's own.
ALTER TABLE events ADD COLUMN receiver text NOT NULL DEFAULT '';
UPDATE events SET receiver = coalesce(actor ->> 'appId', '') WHERE source <> '';
DROP INDEX events_source_id;
CREATE UNIQUE INDEX events_source_id ON events (source, id, receiver);
