// The Plotting module.
