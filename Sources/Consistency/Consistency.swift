// The Consistency module.
