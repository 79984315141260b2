// Package rules implements Gatehouse's event rules: the EventBridge event
// pattern language (the semantics of AWS EventBridge and aws/event-ruler,
// plus Alibaba Cloud EventBridge's "contains") and Alibaba-style event
// transformers.
//
// ParsePattern parses and validates one pattern into a typed tree; Compile
// turns any number of patterns into one Matcher, whose cost per event hardly
// depends on the number of rules; Explain says in words why a pattern matches
// an event or not; NewTransformer builds the payload a target receives.
//
// docs/rules.md is the specification of the language as implemented here.
package rules
