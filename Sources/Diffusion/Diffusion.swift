// The Diffusion module.
