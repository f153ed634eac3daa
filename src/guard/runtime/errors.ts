/** Bad input found before anything changed: exit status 2, the guard in force untouched. */
export class GuardInputError extends Error { override name = 'GuardInputError'; }
