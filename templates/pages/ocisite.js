// ocisite's pages: a filter box, copy buttons, and pull commands for the server the page came
// from. Everything works without it; it only adds.
(function () {
  'use strict'

  // The commands name the host the site was built for. Served from elsewhere (a preview, a
  // bucket's website endpoint, plain HTTP on another port), they name that server instead.
  function adaptCommands() {
    var web = location.protocol === 'http:' || location.protocol === 'https:'
    var plain = location.protocol === 'http:'
    document.querySelectorAll('[data-o]').forEach(function (el) {
      var o = el.getAttribute('data-o')
      if (!web) {
        if (o === 'plain' || o === 'port') el.remove()
        return
      }
      if (o === 'host') el.textContent = location.host
      else if (o === 'hostname') el.textContent = location.hostname
      else if (o === 'port') {
        if (location.port) {
          el.textContent = ' --port ' + location.port
          el.hidden = false
        } else el.remove()
      } else if (o === 'plain') {
        if (plain) el.hidden = false
        else el.remove()
      }
    })
  }

  var status
  function announce(text) {
    if (!status) {
      status = document.createElement('p')
      status.className = 'sr-only'
      status.setAttribute('role', 'status')
      document.body.appendChild(status)
    }
    status.textContent = text
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text)
    // Plain HTTP on a public address has no clipboard API: copy a selection instead.
    return new Promise(function (resolve, reject) {
      var area = document.createElement('textarea')
      area.value = text
      area.setAttribute('readonly', '')
      area.className = 'sr-only'
      document.body.appendChild(area)
      area.select()
      var ok = document.execCommand('copy')
      area.remove()
      if (ok) resolve()
      else reject(new Error('copy refused'))
    })
  }

  function addCopyButtons() {
    document.querySelectorAll('code.cmd').forEach(function (code) {
      var button = document.createElement('button')
      button.type = 'button'
      button.className = 'copy'
      button.textContent = 'Copy'
      button.addEventListener('click', function () {
        copyText(code.textContent).then(
          function () {
            button.textContent = 'Copied'
            announce('Copied: ' + code.textContent)
            setTimeout(function () { button.textContent = 'Copy' }, 2000)
          },
          function () { announce('Could not copy; select the command instead') },
        )
      })
      code.after(button)
    })
  }

  function addFilters() {
    document.querySelectorAll('[data-filter-list]').forEach(function (list, i) {
      var items = Array.prototype.slice.call(list.querySelectorAll('[data-filter-item]'))
      var box = document.createElement('div')
      box.className = 'filter'
      var id = 'filter-' + i
      var label = document.createElement('label')
      label.htmlFor = id
      label.textContent = list.getAttribute('data-filter-label') || 'Filter'
      var input = document.createElement('input')
      input.type = 'search'
      input.id = id
      input.autocomplete = 'off'
      input.spellcheck = false
      var count = document.createElement('output')
      count.setAttribute('for', id)
      count.setAttribute('aria-live', 'polite')
      box.append(label, input, count)
      list.before(box)
      input.addEventListener('input', function () {
        var q = input.value.trim().toLowerCase()
        var shown = 0
        items.forEach(function (item) {
          var match = q === '' || (item.getAttribute('data-name') || '').toLowerCase().indexOf(q) !== -1
          item.hidden = !match
          if (match) shown++
        })
        count.textContent = q === '' ? '' : shown + ' of ' + items.length
      })
    })
  }

  adaptCommands()
  addCopyButtons()
  addFilters()
})()
