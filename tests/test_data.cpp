// Tests of the data suite.
