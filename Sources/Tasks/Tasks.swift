// The Tasks module.
