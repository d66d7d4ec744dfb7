// rotor-agent: the node agent (work in progress).
int main() { return 0; }
