-- A login that ends at another site (an OpenID Connect client's redirect
-- URI): its last form lands on Gatehouse's "Signed in" page, which goes on
-- by itself, because Chromium and Safari apply the login pages'
-- form-action 'self' to every redirect that follows a form's submission,
-- and the client's redirect (and the client's own, after it) is not
-- 'self'.
ALTER TABLE login_pending ADD COLUMN ends_elsewhere INTEGER NOT NULL DEFAULT 0;
