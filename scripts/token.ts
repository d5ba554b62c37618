/**
 * npm run dev:token -- [user-id] [--expires-in SECONDS]
 *
 * Prints an access token for a user, signed with the local stack's JWT secret — what Supabase Auth would
 * hand a signed-in user. Local development only (there is no Auth server in `npm start`). The default
 * user is Alice from supabase/seed.sql.
 */
import { intFlag, parseFlags, runMain, UsageError } from '../src/cli/args.ts';
import { signUserToken } from '../src/stack/keys.ts';

runMain(async () => {
  const { flags, positional } = parseFlags(process.argv.slice(2));
  const sub = positional[0] ?? '00000000-0000-4000-8000-00000000a11c';
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sub)) {
    throw new UsageError(`user id must be a uuid (got ${JSON.stringify(sub)})`);
  }
  console.log(await signUserToken(sub, { expiresIn: intFlag(flags, 'expires-in', 3600) }));
});
