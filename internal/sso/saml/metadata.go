package saml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
)

// metadataValidity is how long a copy of the metadata stays valid
// (validUntil) and may be cached (cacheDuration).
const metadataValidity = 7 * 24 * time.Hour

// Metadata renders the identity provider's signed metadata: its entity
// ID, the HTTP-Redirect and HTTP-POST single sign-on and single logout
// services, the NameID formats it issues, and its signing certificates —
// the one that signs first, then the one waiting to sign or the one it
// replaced. The document is signed (RSA-SHA256, exclusive
// canonicalisation) by the key that signs now.
func (p *IdP) Metadata(ctx context.Context) ([]byte, error) {
	idp, cur, err := p.provider(ctx)
	if err != nil {
		return nil, err
	}
	ed := idp.Metadata()
	d := &ed.IDPSSODescriptors[0]
	// Gatehouse decrypts nothing: publish signing keys only.
	var kds []crewsaml.KeyDescriptor
	for _, kd := range d.KeyDescriptors {
		if kd.Use == "signing" {
			kds = append(kds, kd)
		}
	}
	d.KeyDescriptors = kds
	want := false
	d.WantAuthnRequestsSigned = &want
	now := p.opt.Now().UTC().Truncate(time.Second)
	ed.ValidUntil = now.Add(metadataValidity)
	ed.CacheDuration = 0
	d.ValidUntil = nil
	d.CacheDuration = 0
	// A stable ID for the same content: the key and the day.
	sum := sha256.Sum256([]byte(cur.rec.ID + ed.ValidUntil.Format(time.RFC3339)))
	ed.ID = "gh-" + hex.EncodeToString(sum[:12])

	buf, err := xml.Marshal(ed)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(buf); err != nil {
		return nil, err
	}
	sc, err := signingContext(cur)
	if err != nil {
		return nil, err
	}
	el := doc.Root()
	sig, err := sc.ConstructSignature(el, true)
	if err != nil {
		return nil, err
	}
	el.InsertChildAt(0, sig)
	out := etree.NewDocument()
	out.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	out.SetRoot(el)
	return out.WriteToBytes()
}

func (p *IdP) serveMetadata(w http.ResponseWriter, r *http.Request) {
	b, err := p.Metadata(r.Context())
	if err != nil {
		p.log.ErrorContext(r.Context(), "saml: metadata", "error", err.Error())
		http.Error(w, "the metadata cannot be made now", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}
