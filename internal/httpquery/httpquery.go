// Package httpquery reads a request's query string whole or not at all.
//
// url.ParseQuery (and so (*url.URL).Query, which ignores its error) drops,
// without a word, a pair holding ";" (no longer a separator since Go 1.17)
// or a malformed "%" escape, keeping the rest. A "filter=…;" would then
// read as no filter at all — every user listed — and a
// "filter=a&filter=b;" as one filter to Gatehouse and as two to a proxy
// in front of it. Gatehouse's APIs refuse such a query instead.
package httpquery

import "net/url"

// Parse returns the parameters of raw, a URL's RawQuery, or an error
// naming what net/url would have dropped.
func Parse(raw string) (url.Values, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Check is Parse without the parameters, cheap for a query that holds
// neither ";" nor "%" (nothing there for net/url to drop).
func Check(raw string) error {
	for i := 0; i < len(raw); i++ {
		if raw[i] == ';' || raw[i] == '%' {
			_, err := url.ParseQuery(raw)
			return err
		}
	}
	return nil
}
