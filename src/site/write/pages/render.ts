import { promises as fs } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { HelperOptions, TemplateDelegate } from 'handlebars'
import { pageAssets, type PageAsset } from '../../map.js'

const templatesDir = fileURLToPath(new URL('../../../../templates/pages/', import.meta.url))

/** The pages' templates, compiled once per process. */
export interface PageTemplates {
  layout: TemplateDelegate
  home: TemplateDelegate
  image: TemplateDelegate
  tag: TemplateDelegate
}


let compiled: Promise<PageTemplates> | undefined

// The pull commands name the host through spans the page's script can adapt (see ocisite.js):
// without the script, they read as the commands for the site's own host over HTTPS.
const partials = {
  host: '<span data-o="host">{{@root.site.host}}</span>',
  hostname: '<span data-o="hostname">{{@root.site.host}}</span>',
  port: '<span data-o="port" hidden></span>',
  plain: '<span data-o="plain" hidden>{{{flag}}}</span>',
}

/** Load and compile the page templates (handlebars, loaded only when pages are written). */
export function pageTemplates(): Promise<PageTemplates> {
  compiled ??= (async () => {
    const { default: Handlebars } = await import('handlebars')
    const hbs = Handlebars.create()
    const read = (name: string) => fs.readFile(`${templatesDir}${name}`, 'utf8')
    for (const [name, text] of Object.entries(partials)) hbs.registerPartial(name, text)
    hbs.registerPartial('commands', await read('commands.hbs'))
    hbs.registerPartial('pagination', await read('pagination.hbs'))
    hbs.registerHelper('plural', (n: number, one: string, many: string, _options: HelperOptions) => `${n} ${n === 1 ? one : many}`)
    const compile = async (name: string) => hbs.compile(await read(name), { strict: false, preventIndent: true })
    return { layout: await compile('layout.hbs'), home: await compile('home.hbs'), image: await compile('image.hbs'), tag: await compile('tag.hbs') }
  })()
  return compiled
}

/** The assets' bytes, as shipped. */
export async function pageAssetFiles(): Promise<Array<[name: PageAsset, bytes: Buffer]>> {
  return Promise.all(pageAssets.map(async (name) => [name, await fs.readFile(`${templatesDir}${name}`)] as [PageAsset, Buffer]))
}
