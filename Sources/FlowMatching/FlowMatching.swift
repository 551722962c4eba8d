// The FlowMatching module.
