// Placeholder until the test harness lands.
