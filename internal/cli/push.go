package cli

// pushCmd is `gatehouse push TARGET …`: accounts out to a SCIM service.
func (e *env) pushCmd(args []string) error {
	return usagef("push: not available yet")
}
