// Tests of the model suite.
