package saml

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"

	crewsaml "github.com/crewjam/saml"
)

// The page that carries a response to the service provider (HTTP-POST
// binding): a form posted by a one-line script, with a button for browsers
// without JavaScript. Its Content-Security-Policy allows that script by
// its hash and nothing else. It sets no form-action: Chromium and Safari
// apply form-action to every redirect that follows the form's submission,
// and a service provider's ACS redirects wherever it likes (GitBook's to
// the documentation's own domain), so naming the ACS's origin blocked
// sign-ins whose ACS sends the browser on to another origin. The one form
// is the template's, posting to the ACS from the SP's metadata.

const submitScript = `document.forms[0].submit();`

var submitScriptHash = func() string {
	sum := sha256.Sum256([]byte(submitScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// postForm is the page; the library renders LogoutResponses with it too.
var postForm = template.Must(template.New("saml-post").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in…</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><form method="post" action="{{.URL}}">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{- if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><p>JavaScript is off: press the button to continue.</p></noscript>
<button type="submit">Continue</button>
</form><script>` + submitScript + `</script></body></html>
`))

// formPolicy is the Content-Security-Policy of the page that posts a
// response.
var formPolicy = "default-src 'none'; script-src " + submitScriptHash + "; frame-ancestors 'none'; base-uri 'none'"

// formHeaders sets the headers of the page that posts a response.
func formHeaders(h http.Header) {
	h.Set("Content-Security-Policy", formPolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	// frame-ancestors above, for browsers that know only this header (as
	// Gatehouse's other pages send it).
	h.Set("X-Frame-Options", "DENY")
}

// writePostForm sends a response to the service provider.
func writePostForm(w http.ResponseWriter, f *crewsaml.IdpAuthnRequestForm) {
	var buf bytes.Buffer
	if err := postForm.Execute(&buf, f); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	formHeaders(w.Header())
	_, _ = w.Write(buf.Bytes())
}

// refusalForm is a page that says why a sign-in is refused, and carries
// the service provider's error response on a button (no script: the
// person reads the page first).
var refusalForm = template.Must(template.New("saml-refusal").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p>
<form method="post" action="{{.Form.URL}}">
<input type="hidden" name="SAMLResponse" value="{{.Form.SAMLResponse}}">
{{- if .Form.RelayState}}<input type="hidden" name="RelayState" value="{{.Form.RelayState}}">{{end}}
<button type="submit">Return to the application</button>
</form></body></html>
`))

// writeRefusalForm shows why a sign-in is refused (403), with the button
// that takes the error response to the service provider.
func writeRefusalForm(w http.ResponseWriter, f *crewsaml.IdpAuthnRequestForm, title, message string) {
	var buf bytes.Buffer
	if err := refusalForm.Execute(&buf, map[string]any{"Form": f, "Title": title, "Message": message}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	formHeaders(w.Header())
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(buf.Bytes())
}
