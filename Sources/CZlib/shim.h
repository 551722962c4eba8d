// zlib (Debian: zlib1g-dev; on Apple platforms part of the SDK): raw DEFLATE and CRC-32 for zip members.
// Only FileFormats/Deflate.swift and FileFormats/CRC32.swift call into this module.
#include <zlib.h>
