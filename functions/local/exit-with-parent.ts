/**
 * Loaded (`node --import`) into the model server that the local stack starts, so that the server does not
 * outlive the stack, however the stack ends: its stdin is a pipe from the stack, which the operating system
 * closes when the stack exits, even when killed (SIGKILL, a crash), where no exit handler of its own runs.
 * A server left behind would keep its memory and its port, and the next `npm start` could not listen there.
 * It then stops as on SIGTERM: what it accepted is finished, nothing new is taken.
 */
process.stdin.once("close", () => process.kill(process.pid, "SIGTERM"));
process.stdin.resume();
