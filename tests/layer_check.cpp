// Linked with one layer's whole library and only the layers below it (see meson.build): the
// link fails with "undefined reference" when that layer calls into a layer above it.
int main() { return 0; }
