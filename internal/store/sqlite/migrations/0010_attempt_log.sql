-- A delivery's attempt log is appended to, never rewritten: a replay keeps
-- the attempt count (attempt numbers continue) and remembers where the
-- replay started, so that the retry schedule starts over.
--
--   attempts         every attempt ever claimed (the next one's number)
--   replays          how many times the delivery was replayed (a part of
--                    the email targets' idempotency keys and Message-IDs)
--   replay_base      attempts before the last replay (the schedule counts
--                    attempts - replay_base)
--   uncertain_since  the first attempt since dispatch or the last replay
--                    whose outcome is unknown (no answer, a 5xx, a crash):
--                    the target may have acted on it; a target that forgets
--                    idempotency keys (Resend: 24 h) is not retried past it
ALTER TABLE deliveries ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN replay_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN uncertain_since TEXT;

-- Before, a replay set attempts to 0 and the attempts after it overwrote
-- rows 1, 2, … of the log. Numbering continues after the highest number
-- recorded; the attempts since the replay stay what the schedule counts.
-- (SET expressions read the row as it was.)
UPDATE deliveries SET
    attempts = max(attempts, (SELECT coalesce(max(a.n), 0) FROM delivery_attempts a WHERE a.delivery_id = deliveries.id)),
    replay_base = max(attempts, (SELECT coalesce(max(a.n), 0) FROM delivery_attempts a WHERE a.delivery_id = deliveries.id)) - attempts;
