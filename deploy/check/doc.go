// Package check holds the tests of Gatehouse's packaging and deployment
// files: the Dockerfile, compose.yaml, the systemd unit, and the Terraform
// modules in deploy/terraform/alicloud (against the aliyun/alicloud
// provider schema subset). It is a module of its own so that the parsers
// it needs (BuildKit's Dockerfile parser, compose-go, HCL) stay out of the
// server's dependencies. Run: cd deploy/check && go test ./...
package check
