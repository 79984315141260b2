-- A person's journey (gatehouse journey, GET /admin/v1/users/{id}/journey):
-- the events about one user, found by index. Those whose subject is the
-- user ("users/<id>"), and the membership events of groups, whose subject
-- is the group and whose data names the member. Only Gatehouse's own
-- membership events are indexed (source ''): a received event's data is
-- whatever its sender wrote, and need not be an object.
CREATE INDEX events_subject ON events (subject, seq);
CREATE INDEX events_member ON events (((data::jsonb) ->> 'member'), seq)
    WHERE source = '' AND type IN ('Group.MemberAdded', 'Group.MemberRemoved');
