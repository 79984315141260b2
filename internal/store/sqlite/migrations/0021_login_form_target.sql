-- Where a login may send the browser once it ends, as a Content-Security-
-- Policy source (the OpenID Connect client's redirect URI origin): the
-- login pages' form-action names it, because Chromium and Safari apply
-- form-action to the redirects that follow a form's submission, and the
-- last one goes to the client. Empty: the login ends on Gatehouse.
ALTER TABLE login_pending ADD COLUMN form_target TEXT NOT NULL DEFAULT '';
