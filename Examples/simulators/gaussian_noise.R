# x = theta + 0.1 * noise, served to diffsbi from R (base R only):
#   diffsbi train --simulator "Rscript Examples/simulators/gaussian_noise.R" --prior prior.json --simulations 10000 --out m
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(sub("^--file=", "", args[grep("^--file=", args)]))
source(file.path(here, "diffsbi_protocol.R"))
serve(function(theta) theta + 0.1 * matrix(rnorm(length(theta)), nrow = nrow(theta)))
