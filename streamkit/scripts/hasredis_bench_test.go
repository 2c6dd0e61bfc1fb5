package scripts_test

import "os/exec"

// hasRedisServer reports whether redis-server is installed.
func hasRedisServer() bool {
	_, err := exec.LookPath("redis-server")
	return err == nil
}
