// Placeholder main job; grows into the elastic-serving demo.
#include <bitdial/quant/uniform.hpp>
#include <cstdio>
int main() { std::puts("bitdial demo"); }
