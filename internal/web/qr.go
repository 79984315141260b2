package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	"rsc.io/qr"
)

// qrSVG draws text as a QR code (error correction level M) in inline SVG:
// one path of the dark modules in a 4-module quiet zone, in the page
// itself. An inline <svg> is part of the document, not a loaded image, so
// the strict CSP (img-src 'self', no data: URIs) lets it in, and the
// secret it holds is never a URL that a cache or a log could keep. label
// is its accessible name. The QR encoder is rsc.io/qr (pure Go, BSD).
func qrSVG(text, label string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", err
	}
	const quiet = 4
	n := code.Size + 2*quiet
	var path strings.Builder
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < code.Size && code.Black(x+run, y) {
				run++
			}
			fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run
		}
	}
	// Everything interpolated is numbers or escaped text.
	svg := fmt.Sprintf(`<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" shape-rendering="crispEdges">`+
		`<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, n*5, n*5, html.EscapeString(label), n, n, path.String())
	return template.HTML(svg), nil //nolint:gosec // built above from numbers and escaped text
}
