package cli

// syncCmd is `gatehouse sync ldap …`: accounts in from a directory.
func (e *env) syncCmd(args []string) error {
	return usagef("sync: not available yet")
}
