// The FileFormats module.
