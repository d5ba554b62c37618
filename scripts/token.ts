/**
 * npm run dev:token -- [user-id] [--expires-in SECONDS]
 *
 * Prints an access token for a user, signed with the local stack's JWT secret — what Supabase Auth would
 * hand a signed-in user. Local development only (there is no Auth server in `npm start`). The default
 * user is Alice from supabase/seed.sql.
 */
import { intOpt, parseCli, runMain, UsageError } from '../ops/cli/args.ts';
import { signUserToken } from '../devstack/stack/keys.ts';

const usage = 'usage: npm run -s dev:token -- [user-id] [--expires-in SECONDS]';

runMain(async () => {
  const { values, positionals } = parseCli({ usage, entry: 'scripts/token.ts', positionals: 1, options: { 'expires-in': { type: 'string' } } });
  const sub = positionals[0] ?? '00000000-0000-4000-8000-00000000a11c';
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sub)) {
    throw new UsageError(`user id must be a uuid (got ${JSON.stringify(sub)})`, usage);
  }
  console.log(await signUserToken(sub, { expiresIn: intOpt(values, 'expires-in', 3600) }));
});
