package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	crewsaml "github.com/crewjam/saml"
)

// maxXMLDepth bounds the nesting of the XML Gatehouse reads.
const maxXMLDepth = 64

// checkXML refuses what no SAML message or metadata needs and attackers
// use: DTDs and entity declarations (<!DOCTYPE …>, <!ENTITY …>), processing
// instructions other than the XML declaration, entity references other
// than XML's five, deep nesting, several root elements and text around
// the root.
func checkXML(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.Entity = nil // only &lt; &gt; &amp; &apos; &quot; and character references
	depth, roots := 0, 0
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errors.New("DTDs and entity declarations are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("processing instruction %q is not allowed", t.Target)
			}
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return errors.New("more than one root element")
				}
			}
			depth++
			if depth > maxXMLDepth {
				return fmt.Errorf("elements nested deeper than %d", maxXMLDepth)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text outside the root element")
			}
		}
	}
	if roots == 0 {
		return errors.New("no root element")
	}
	return nil
}

// parseEntityDescriptor reads an EntityDescriptor, or the only one of an
// EntitiesDescriptor.
func parseEntityDescriptor(doc []byte) (*crewsaml.EntityDescriptor, error) {
	var ed crewsaml.EntityDescriptor
	errOne := xml.Unmarshal(doc, &ed)
	if errOne == nil && ed.EntityID != "" {
		return &ed, nil
	}
	var eds crewsaml.EntitiesDescriptor
	if err := xml.Unmarshal(doc, &eds); err == nil {
		switch n := len(eds.EntityDescriptors); {
		case n == 1:
			return &eds.EntityDescriptors[0], nil
		case n > 1:
			return nil, fmt.Errorf("the metadata describes %d entities: give the one of the service provider", n)
		}
	}
	if errOne != nil {
		return nil, fmt.Errorf("the metadata cannot be read: %v", errOne)
	}
	return nil, errors.New("the metadata has no entityID")
}
