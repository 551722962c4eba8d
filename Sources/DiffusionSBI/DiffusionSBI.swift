// Umbrella module: `import DiffusionSBI` gives the whole public API.
@_exported import Composition
@_exported import Consistency
@_exported import Diagnostics
@_exported import Diffusion
@_exported import Estimation
@_exported import ExternalSimulator
@_exported import FileFormats
@_exported import FlowMatching
@_exported import NeuralNet
@_exported import NumericCore
@_exported import Plotting
@_exported import Tasks
