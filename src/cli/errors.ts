/** Bad usage or bad input: exit status 2. The message names the cause and the fix. */
export class UsageError extends Error {
  override name = 'UsageError';
}
