/** Records the name of every command an ioredis client sends (also each command queued in a MULTI or pipeline). */
import type { Redis } from 'ioredis';

export function recordRedisCommands(redis: Redis, into: string[]): void {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    into.push(command.name);
    return (send as (...a: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
}
