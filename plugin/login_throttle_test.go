package plugin

import "testing"

// TestOneAddressCanLockUsers: with the defaults one address, kept under
// its own count, cannot reach the per-username count (5 a minute meet a
// 15-minute window 16 times: 80 < 100); with the old default of 50 it
// could, in 10 minutes.
func TestOneAddressCanLockUsers(t *testing.T) {
	o := DefaultOptions()
	if o.OneAddressCanLockUsers() {
		t.Errorf("the defaults let one address lock a username for everyone")
	}
	for _, tc := range []struct {
		pair, user int
		lock       bool
	}{
		{5, 50, true}, {5, 80, true}, {5, 81, false}, {0, 100, true}, {5, 0, false}, {0, 0, false},
	} {
		o.LoginThrottleFailures, o.LoginUserThrottleFailures = tc.pair, tc.user
		if got := o.OneAddressCanLockUsers(); got != tc.lock {
			t.Errorf("pair %d, user %d per 15 min: %v, want %v", tc.pair, tc.user, got, tc.lock)
		}
	}
}
