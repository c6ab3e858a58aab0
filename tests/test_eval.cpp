// Tests of the eval suite.
