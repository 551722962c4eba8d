# The .npy pipe protocol of diffsbi (Documentation/Simulators.md) in base R: serve(simulate) reads batches of
# parameters (float64 arrays [b, P]) from standard input and writes one float64 array [b, D] per batch to
# standard output, until diffsbi closes the pipe. Seed from DIFFSBI_SEED and DIFFSBI_WORKER for reproducibility.

npy_read <- function(con) {
  magic <- readBin(con, "raw", 6)
  if (length(magic) == 0) return(NULL)  # end of input
  version <- readBin(con, "raw", 2)
  header_len <- if (as.integer(version[1]) == 1) {
    readBin(con, "integer", 1, size = 2, signed = FALSE, endian = "little")
  } else {
    readBin(con, "integer", 1, size = 4, endian = "little")
  }
  header <- rawToChar(readBin(con, "raw", header_len))
  if (!grepl("'descr': '<f8'", header, fixed = TRUE)) stop("diffsbi sends float64 arrays")
  shape <- as.integer(strsplit(sub(".*'shape': \\(([0-9, ]*)\\).*", "\\1", header), ",")[[1]])
  shape <- shape[!is.na(shape)]
  values <- readBin(con, "double", prod(shape), size = 8, endian = "little")
  matrix(values, nrow = shape[1], ncol = prod(shape[-1]), byrow = TRUE)
}

npy_write <- function(con, x) {
  x <- as.matrix(x)
  dict <- sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", nrow(x), ncol(x))
  pad <- (64 - (10 + nchar(dict) + 1) %% 64) %% 64
  dict <- paste0(dict, strrep(" ", pad), "\n")
  writeBin(as.raw(c(0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0)), con)
  writeBin(as.integer(nchar(dict)), con, size = 2, endian = "little")
  writeBin(charToRaw(dict), con)
  writeBin(as.vector(t(x)), con, size = 8, endian = "little")
  flush(con)
}

serve <- function(simulate) {
  seed <- as.numeric(Sys.getenv("DIFFSBI_SEED", "0"))
  worker <- as.integer(Sys.getenv("DIFFSBI_WORKER", "0"))
  set.seed((seed %% 2147483647) + worker)
  input <- file("stdin", "rb")
  output <- pipe("cat", "wb")
  repeat {
    theta <- npy_read(input)
    if (is.null(theta)) break
    npy_write(output, simulate(theta))
  }
  close(output)
}
