import { OcisiteError } from '../errors.js'

// Path components follow the distribution spec's repository grammar so that one image path
// serves both the discovery tree and /v2/. It also rules out `..`, `.` and empty segments.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
/** The tag grammar as a pattern source (valid in PCRE and JavaScript), for URL patterns. */
export const TAG_PATTERN = '[A-Za-z0-9_][A-Za-z0-9._-]{0,127}'
const TAG = new RegExp(`^${TAG_PATTERN}$`)

/** Whether `imagePath` is a usable image path (see checkImagePath). */
export function isImagePath(imagePath: string): boolean {
  return imagePath !== '' && imagePath.split('/').every((s) => COMPONENT.test(s))
}

/** Whether `tag` is a usable tag (see checkTag). */
export function isTag(tag: string): boolean {
  return TAG.test(tag)
}

/** Check an image path (`org/app`) for safe use as URI path segments and a /v2/ repository name. */
export function checkImagePath(imagePath: string, where: string): string {
  const segments = imagePath.split('/')
  const bad = segments.find((s) => !COMPONENT.test(s))
  if (!isImagePath(imagePath)) {
    throw new OcisiteError(
      'PATH_INVALID',
      `${where}: image path "${imagePath}" is not usable: ${bad === '' || imagePath === '' ? 'it has an empty segment' : `segment "${bad}" must be lowercase letters and digits, joined by ".", "_", "__" or "-"`}`,
      { path: imagePath },
    )
  }
  return imagePath
}

/** Check a tag for safe use as a URI path segment and a /v2/ tag. */
export function checkTag(tag: string, where: string): string {
  if (!isTag(tag)) {
    throw new OcisiteError('TAG_INVALID', `${where}: tag "${tag}" is not usable: a tag is 1-128 of [A-Za-z0-9_.-] and does not start with "." or "-"`, { tag })
  }
  return tag
}
