// Placeholder until the broker's main lands.
int main() { return 0; }
